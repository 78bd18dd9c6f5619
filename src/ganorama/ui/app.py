"""The Gradio page: the form, the result (the project's 360 viewer, the image, downloads)
and a history strip per browser session. Layout and wiring only; the form's meaning is
in :mod:`ganorama.ui.form`, generating and storing in :mod:`ganorama.ui.results`.

One generation runs at a time on the one loaded model (the three Generate buttons share
one queue slot); other pages wait in gradio's queue and each gets its own result, since
a result travels only in the reply to the event that asked for it and in that page's
own history state.
"""
from __future__ import annotations

import html
import secrets
import sys

import gradio as gr

from ganorama.errors import GanoramaError, UsageError
from ganorama.request import MAX_SIDECAR_BYTES
from ganorama.ui import form
from ganorama.ui.results import HISTORY_LENGTH, ResultStore, StoredResult, generate_result

KIND_TITLES = {"panorama": "Panorama", "bigimg": "Big image", "texture": "Texture"}
MIX_ROWS = 3

CSS = """
#ganorama-error .ganorama-error { padding: 10px 14px; border-radius: 6px; border: 1px solid #d33;
  background: #fff1f0; color: #8a1010; font-family: ui-monospace, monospace; white-space: pre-wrap; }
#ganorama-viewer iframe { width: 100%; height: 460px; border: 0; border-radius: 6px; display: block; }
"""

# Fonts the computer has: the default theme would fetch web fonts from the internet.
THEME_FONTS = dict(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def launch_options(store: ResultStore) -> dict:
    """gradio's launch settings for a local app: no share link, no SSR node server, no
    run history kept in the browser, uploads capped, files served only from the store.
    Settings that this gradio does not know are left out: a gradio without a run history
    has none to turn off."""
    import inspect

    wanted = dict(share=False, ssr_mode=False, quiet=True, show_error=False, run_history=False,
                  footer_links=["gradio", "settings"], allowed_paths=[str(store.root)],
                  max_file_size=MAX_SIDECAR_BYTES,  # uploads are sidecars only
                  theme=gr.themes.Default(**THEME_FONTS), css=CSS)  # fmt: skip
    known = inspect.signature(gr.Blocks.launch).parameters
    return {name: value for name, value in wanted.items() if name in known}


def build_app(generator, store: ResultStore) -> gr.Blocks:
    page = _Page(generator, store)
    with gr.Blocks(title="ganorama", analytics_enabled=False) as app:
        page.layout()
        page.wire()
    app.queue(default_concurrency_limit=4)
    return app


class _Page:
    """The components of the page and the handlers that connect them."""

    def __init__(self, generator, store: ResultStore):
        self.generator = generator
        self.store = store
        # widget name -> component, per kind (shared widgets appear under every kind)
        self.widgets: dict[str, dict[str, gr.components.Component]] = {kind: {} for kind in form.KIND_WIDGETS}
        self.generate_buttons: dict[str, gr.Button] = {}

    # --- layout ---------------------------------------------------------------------------

    def layout(self) -> None:
        model = self.generator
        gr.Markdown(f"## ganorama\nModel **{model.model_name}** ({model.image_size} px) on "
                    f"{model.device.type}, {str(model.dtype).removeprefix('torch.')}. Every field is the CLI "
                    "option of the same name (`ganorama panorama --help`).")  # fmt: skip
        self.history = gr.State([], delete_callback=self.store.discard)
        with gr.Row():
            with gr.Column(scale=2, min_width=360):
                self._form()
            with gr.Column(scale=3, min_width=420):
                self._result()

    def _form(self) -> None:
        defaults = form.default_values("panorama")
        shared: dict[str, gr.components.Component] = {}
        shared["classes"] = gr.Dropdown(
            choices=list(form.class_choices()), value=None, allow_custom_value=True, filterable=True,
            label="classes", elem_id="classes",
            info="Type to find a class by any of its names or its id, or type an id or a mix such as "
                 "`0.7*sandbar+0.3*valley`. Empty: random classes.")  # fmt: skip
        with gr.Accordion("Find a class by meaning, mix classes", open=False):
            self.search = gr.Textbox(label="find a class", placeholder="beach, forest, volcano, dog...",
                                     elem_id="class-search")  # fmt: skip
            self.matches = gr.Radio(choices=[], label="matches (click one to use it)", elem_id="class-matches")
            self.mix_rows = []
            for row in range(MIX_ROWS):
                with gr.Row():
                    name = gr.Dropdown(choices=list(form.class_choices()), value=None, allow_custom_value=True,
                                       label=f"mix class {row + 1}", scale=3, elem_id=f"mix-class-{row + 1}")
                    weight = gr.Number(value=1.0 if row < 2 else None, label="weight", minimum=0, scale=1,
                                       elem_id=f"mix-weight-{row + 1}")  # fmt: skip
                self.mix_rows.append((name, weight))
            self.use_mix = gr.Button("Use this mix as the classes", size="sm")
        with gr.Row():
            shared["seed"] = gr.Textbox(label="seed", placeholder="empty: random (recorded in the sidecar)",
                                        elem_id="seed", scale=4)  # fmt: skip
            self.dice = gr.Button("Roll a seed", elem_id="dice", scale=1, min_width=120)
        with gr.Accordion("Sampling", open=False):
            with gr.Row():
                for name in ("truncation", "z_mul", "class_mul"):
                    shared[name] = gr.Number(value=defaults[name], label=name, elem_id=name)
            with gr.Row():
                shared["share_z"] = gr.Checkbox(value=True, label="share_z: one noise vector for all views")
                shared["share_class"] = gr.Checkbox(value=False, label="share_class: one random class for all views")
            with gr.Row():
                shared["start_layer"] = gr.Number(value=defaults["start_layer"], label="sync blocks: start_layer",
                                                  elem_id="start_layer")  # fmt: skip
                shared["end_layer"] = gr.Number(value=defaults["end_layer"], elem_id="end_layer",
                                                label="end_layer (blocks start <= i < end)")  # fmt: skip
        with gr.Tabs(selected="panorama") as self.tabs:
            for kind in form.KIND_WIDGETS:
                with gr.Tab(KIND_TITLES[kind], id=kind, elem_id=f"tab-{kind}"):
                    own = getattr(self, f"_{kind}_widgets")(form.default_values(kind))
                    self.widgets[kind].update(own)
                    self.generate_buttons[kind] = gr.Button(f"Generate {KIND_TITLES[kind].lower()}", variant="primary",
                                                            elem_id=f"generate-{kind}")  # fmt: skip
        with gr.Accordion("Output format and memory", open=False):
            with gr.Row():
                shared["format"] = gr.Radio(["png", "jpg"], value="png", label="format (both carry GPano 360 metadata)")
                shared["quality"] = gr.Number(value=defaults["quality"], label="quality (JPEG, 1-100)")
            with gr.Row():
                shared["max_views"] = gr.Textbox(value="", label="max_views", placeholder="auto",
                                                 info="views per chunk; fewer use less memory")  # fmt: skip
                shared["memory_budget"] = gr.Textbox(value="", label="memory_budget", placeholder="none",
                                                     info="e.g. 6GB: derive max_views from it")  # fmt: skip
        self.reproduce = gr.UploadButton("Reproduce: fill the form from a sidecar (.json)", file_types=[".json"],
                                         type="filepath", elem_id="reproduce")  # fmt: skip
        for kind in form.KIND_WIDGETS:
            self.widgets[kind].update(shared)
        self.classes, self.seed = shared["classes"], shared["seed"]

    def _panorama_widgets(self, defaults: dict) -> dict:
        widgets = {}
        widgets["layout"] = gr.Dropdown(["full", "seed16", "cube"], value=defaults["layout"], allow_custom_value=True,
                                        label="layout", info="full, seed16, cube, or paste a JSON list of views")
        with gr.Row():
            widgets["panorama_width"] = gr.Textbox(value=defaults["panorama_width"], label="panorama_width",
                                                   info="pixels or auto", elem_id="panorama_width")  # fmt: skip
            widgets["panorama_height"] = gr.Textbox(value=defaults["panorama_height"], label="panorama_height",
                                                    info="half the width, or auto", elem_id="panorama_height")
        widgets["exports"] = gr.CheckboxGroup(list(form.PANORAMA_EXPORTS), value=defaults["exports"],
                                              label="also make (downloads)", elem_id="exports")  # fmt: skip
        widgets["displace"] = gr.Number(value=defaults["displace"], label="displace (sphere and turntable relief)")
        return widgets

    def _bigimg_widgets(self, defaults: dict) -> dict:
        widgets = {}
        with gr.Row():
            widgets["batch_size"] = gr.Number(value=defaults["batch_size"], label="columns (batch_size)",
                                              elem_id="bigimg-cols")  # fmt: skip
            widgets["rows"] = gr.Number(value=defaults["rows"], label="rows")
            widgets["overlap"] = gr.Number(value=defaults["overlap"], label="overlap (0 <= F < 1)")
        with gr.Row():
            widgets["wrap"] = gr.Radio(["none", "x", "y", "xy"], value=defaults["wrap"], label="wrap")
            widgets["morph"] = gr.Checkbox(False, label='morph: blend "a|b|..." classes left to right',
                                           elem_id="bigimg-morph")  # fmt: skip
            widgets["save_views"] = gr.Checkbox(False, label="tiles contact sheet")
        return widgets

    def _texture_widgets(self, defaults: dict) -> dict:
        widgets = {}
        with gr.Row():
            widgets["size"] = gr.Number(value=defaults["size"], label="size (pixels, about)", elem_id="texture-size")
            widgets["overlap"] = gr.Number(value=defaults["overlap"], label="overlap (0 < F < 1)",
                                           elem_id="texture-overlap")  # fmt: skip
            widgets["save_views"] = gr.Checkbox(False, label="tiles contact sheet")
        return widgets

    def _result(self) -> None:
        self.error = gr.HTML("", visible=False, elem_id="ganorama-error")
        self.info = gr.Markdown("Fill the form and press Generate.", elem_id="ganorama-info")
        self.viewer = gr.HTML("", visible=False, elem_id="ganorama-viewer")
        self.image = gr.Image(label="image", type="filepath", interactive=False, elem_id="result-image",
                              visible=False, height=280)  # fmt: skip
        self.tiled = gr.Image(label="texture tiled 3 x 3", type="filepath", interactive=False, visible=False,
                              elem_id="result-tiled")  # fmt: skip
        self.views = gr.Image(label="views", type="filepath", interactive=False, visible=False, elem_id="result-views")
        self.downloads = gr.File(label="downloads", file_count="multiple", interactive=False, elem_id="downloads",
                                 visible=False)  # fmt: skip
        self.gallery = gr.Gallery(label="history (this page; click one to reopen it)", columns=6, height=170,
                                  fit_columns=False, allow_preview=False, interactive=False,
                                  elem_id="history")  # fmt: skip

    # --- events ---------------------------------------------------------------------------

    def wire(self) -> None:
        shown = [self.error, self.info, self.viewer, self.image, self.tiled, self.views, self.downloads]
        for kind, button in self.generate_buttons.items():
            inputs = {self.history, *self.widgets[kind].values()}
            # One generation at a time for the one model: all three buttons share one slot.
            button.click(self._generate_handler(kind), inputs=inputs,
                         outputs=[*shown, self.history, self.gallery], concurrency_limit=1,
                         concurrency_id="generate", api_name=f"generate_{kind}")  # fmt: skip
        self.gallery.select(self._reopen, inputs=[self.history], outputs=shown, api_visibility="private")
        self.dice.click(lambda: str(secrets.randbelow(form.DICE_SEEDS)), outputs=self.seed, api_visibility="private")
        self.search.change(self._search, inputs=self.search, outputs=self.matches, api_visibility="private")
        self.matches.input(lambda value: value, inputs=self.matches, outputs=self.classes, api_visibility="private")
        self.use_mix.click(self._use_mix, inputs=[widget for row in self.mix_rows for widget in row],
                           outputs=[self.classes, self.error], api_visibility="private")  # fmt: skip
        every_widget = {widget for widgets in self.widgets.values() for widget in widgets.values()}
        self.reproduce.upload(self._reproduce, inputs=self.reproduce,
                              outputs=[*every_widget, self.tabs, self.error, self.info], api_visibility="private")

    def _generate_handler(self, kind: str):
        def generate(data: dict, progress=gr.Progress()):
            values = {name: data[widget] for name, widget in self.widgets[kind].items()}
            try:
                request = form.request_from_form(kind, values)
                stored = generate_result(self.generator, self.store, request,
                                         on_progress=lambda done, total: progress(done / total, desc="generating"))
            except Exception as error:  # every error becomes one line in the page
                return {self.error: _error_box(error)}
            history = self._remember(list(data[self.history]), stored)
            return {**self._show(stored), self.history: history, self.gallery: self._gallery(history)}

        generate.__name__ = f"generate_{kind}"
        return generate

    def _remember(self, history: list[str], stored: StoredResult) -> list[str]:
        history = [*history, stored.id]
        if len(history) > HISTORY_LENGTH:
            self.store.discard(history[:-HISTORY_LENGTH])
            history = history[-HISTORY_LENGTH:]
        return history

    def _gallery(self, history: list[str]) -> list:
        entries = [self.store.get(result_id) for result_id in reversed(history)]  # newest first
        return [(str(entry.thumbnail), entry.title) for entry in entries if entry is not None]

    def _reopen(self, history: list[str], event: gr.SelectData):
        newest_first = [result_id for result_id in reversed(history) if self.store.get(result_id) is not None]
        stored = self.store.get(newest_first[event.index]) if 0 <= event.index < len(newest_first) else None
        if stored is None:
            return {self.error: _error_box(UsageError("that result is no longer kept; generate it again"))}
        return self._show(stored)

    def _show(self, stored: StoredResult) -> dict:
        panorama = stored.kind == "panorama"
        return {
            self.error: gr.update(value="", visible=False),
            self.info: _result_info(stored),
            self.viewer: gr.update(value=_viewer_frame(stored) if panorama else "", visible=panorama),
            self.image: gr.update(value=str(stored.image), visible=True),
            self.tiled: gr.update(value=_path_or_none(stored.tiled_preview), visible=stored.tiled_preview is not None),
            self.views: gr.update(value=_path_or_none(stored.views_sheet), visible=stored.views_sheet is not None),
            self.downloads: gr.update(value=[str(path) for path in stored.downloads], visible=True),
        }

    def _search(self, query: str):
        return gr.update(choices=form.search_classes(query), value=None)

    def _use_mix(self, *values):
        pairs = list(zip(values[0::2], values[1::2]))
        try:
            return {self.classes: form.compose_mix(pairs), self.error: gr.update(value="", visible=False)}
        except UsageError as error:
            return {self.error: _error_box(error)}

    def _reproduce(self, path):
        try:
            request = form.request_from_sidecar_file(path)
        except Exception as error:  # a bad upload: one line in the page
            return {self.error: _error_box(error)}
        values = form.widget_values(request)
        updates = {self.widgets[request.kind][name]: value for name, value in values.items()}
        return {**updates, self.tabs: gr.Tabs(selected=request.kind), self.error: gr.update(value="", visible=False),
                self.info: html.escape(form.sidecar_summary(request))}  # fmt: skip


def _result_info(stored: StoredResult) -> str:
    seconds = f"{stored.seconds:.1f}" if stored.seconds >= 1 else f"{stored.seconds:.2f}"
    text = f"**{html.escape(stored.title)}** ({KIND_TITLES[stored.kind].lower()}), made in {seconds} s."
    if stored.kind == "panorama":
        text += " Drag the view to look around; G or the button: globe."
    return text


def _path_or_none(path) -> str | None:
    return None if path is None else str(path)


def _viewer_frame(stored: StoredResult) -> str:
    """The project's viewer page in a sandboxed frame: its script runs in an origin of its
    own, apart from the app, and its own CSP keeps it offline."""
    page = html.escape(stored.viewer_page(), quote=True)
    return f'<iframe title="360 viewer: {html.escape(stored.title)}" sandbox="allow-scripts" srcdoc="{page}"></iframe>'


def error_message(error: BaseException) -> str:
    """One line for any error, as the CLI words it."""
    if isinstance(error, GanoramaError):
        return str(error)
    if isinstance(error, MemoryError) or "out of memory" in str(error) or "can't allocate memory" in str(error):
        first = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        return f"out of memory ({first}); lower max_views, set memory_budget or make the canvas smaller"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    first = str(error).splitlines()[0][:200] if str(error) else ""
    return f"unexpected error {type(error).__name__}: {first}"


def _error_box(error: BaseException):
    message = " ".join(error_message(error).split())
    if not isinstance(error, GanoramaError):  # a fault to look into: one line in the server's log too
        print(f"ganorama ui: error: {message}", file=sys.stderr, flush=True)
    return gr.update(value=f'<div class="ganorama-error" role="alert">{html.escape(message)}</div>', visible=True)
