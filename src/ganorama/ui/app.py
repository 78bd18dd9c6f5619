"""The Gradio page: the kind tabs, the form and its Generate and Cancel at the top, the
result beside it (the project's 360 viewer, the video, the image, downloads) and the
server's history below. Layout and wiring only; the form's meaning is in
:mod:`ganorama.ui.form`, generating and storing in :mod:`ganorama.ui.results`.

Where the eye is: on a wide window the result column stays in view (sticky) whatever
the form's scroll, and on a narrow one a click on Generate scrolls to the result; the
progress bar is drawn on the line above the result, so a click always shows progress,
then the result or the error, without the user scrolling.

One generation runs at a time on the one loaded model (one queue slot for every kind);
other pages wait in gradio's queue and each gets its own result, since a result travels
only in the reply to the event that asked for it. The history is the server's: every
result made while it runs, in every page, kept until it stops.
"""
from __future__ import annotations

import html
import secrets
import sys

import gradio as gr

from ganorama.errors import GanoramaError, UsageError
from ganorama.request import MAX_SIDECAR_BYTES
from ganorama.ui import form
from ganorama.ui.results import (ResultStore, RunCancelled, RunControl, StoredResult, generate_result,
                                 generate_video)  # fmt: skip

KIND_TITLES = {"panorama": "Panorama", "bigimg": "Big image", "texture": "Texture", "animate": "Animate"}
TABS = tuple(KIND_TITLES)
MIX_ROWS = 3

CSS = """
#ganorama-error .ganorama-error { padding: 10px 14px; border-radius: 6px; border: 1px solid #d33;
  background: #fff1f0; color: #8a1010; font-family: ui-monospace, monospace; white-space: pre-wrap; }
#ganorama-viewer iframe { width: 100%; height: min(460px, 62vh); border: 0; border-radius: 6px; display: block; }
#ganorama-info { min-height: 2.6em; }
#ganorama-header p { margin: 0; }
.ganorama-hidden { display: none !important; }
#classes-help .ganorama-hint { margin: -6px 4px 0; font-size: var(--block-info-text-size); color: var(--block-info-text-color); }
/* Field names whole on a narrow window: they are the CLI's option names. */
#ganorama-form label span, #ganorama-form [data-testid=block-info] { overflow-wrap: anywhere; }
/* A wide window: the result column stays in view while the form scrolls. A narrow one:
   the result, below the form, is a window high, so scrolling to it puts it at the top. */
@media (min-width: 800px) {
  #ganorama-result { position: sticky; top: 8px; align-self: flex-start; }
}
@media (max-width: 799px) {
  #ganorama-result { min-height: 100vh; }
}
/* No scroll anchoring: an error shown above the info line must not push the result up. */
html, body, #ganorama-result { overflow-anchor: none; }
/* History captions whole, on as many lines as they need. */
#history .caption-label, #history figcaption, #history .thumbnail-item span {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  max-width: none !important; position: static !important; }
#history .thumbnail-item { height: auto !important; flex-direction: column; }
"""

# Scrolls the result into view when its top is not in the upper half of the window (a
# phone, where the result column is below the form).
SCROLL_TO_RESULT = """() => {
  const box = document.querySelector('#ganorama-result');
  if (box) {
    const top = box.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight / 2) { box.scrollIntoView({block: 'start'}); }
  }
}"""

# "Reproduce": the browser opens a file chooser and puts the file's text (no more than
# one byte over the cap, so the server still sees a file too large as too large) into
# the hidden box, whose change event sends it.
READ_SIDECAR_JS = """() => {
  const chooser = document.createElement('input');
  chooser.type = 'file';
  chooser.accept = '.json,application/json';
  chooser.onchange = async () => {
    const file = chooser.files[0];
    if (!file) { return; }
    const text = await file.slice(0, MAX_BYTES + 1).text();
    const box = document.querySelector('#sidecar-text textarea, #sidecar-text input');
    box.value = text;
    box.dispatchEvent(new Event('input', {bubbles: true}));
  };
  chooser.click();
}""".replace("MAX_BYTES", str(MAX_SIDECAR_BYTES))

# Fonts the computer has: the default theme would fetch web fonts from the internet.
THEME_FONTS = dict(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])

# A field's help (gradio's info) turns any two asterisks into emphasis, even in code and
# escaped: the classes' help, with a mix in it, is HTML of its own, shown as typed.
CLASSES_HELP = ('<p class="ganorama-hint">A name or id, a mix like <code>0.7*sandbar+0.3*valley</code>, or '
                "<code>a|b|c</code>: one per result, morph or keyframe. Empty: random classes.</p>")
HELP = ("Each field is the CLI option of its name (`ganorama panorama --help`, `bigimg`, `texture`, `animate`), "
        "except **share_z**: checked is the CLI's default, unchecked is `--no_share_z`; **count** is `-n`.")


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
        page.wire(app)
    app.queue(default_concurrency_limit=4)
    return app


class _Page:
    """The components of the page and the handlers that connect them."""

    def __init__(self, generator, store: ResultStore):
        self.generator = generator
        self.store = store
        self.runs = RunControl()
        # widget name -> component, per tab (shared widgets appear under every tab)
        self.widgets: dict[str, dict[str, gr.components.Component]] = {tab: {} for tab in TABS}
        self.tab_items: dict[str, gr.Tab] = {}

    # --- layout ---------------------------------------------------------------------------

    def layout(self) -> None:
        model = self.generator
        gr.Markdown(f"**ganorama** · model **{model.model_name}** ({model.image_size} px) on {model.device.type}, "
                    f"{str(model.dtype).removeprefix('torch.')}", elem_id="ganorama-header")  # fmt: skip
        self.kind = gr.State("panorama")
        self.shown_ids = gr.State([])  # the history strip's result ids, in its order
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340, elem_id="ganorama-form"):
                self._form()
            with gr.Column(scale=3, min_width=340, elem_id="ganorama-result"):
                self._result()
        self.gallery = gr.Gallery(label="history (every result while the server runs; click one to reopen it)",
                                  columns=6, height="auto", fit_columns=False, allow_preview=False,
                                  interactive=False, elem_id="history")  # fmt: skip

    def _form(self) -> None:
        with gr.Tabs(selected="panorama") as self.tabs:
            for tab in TABS:
                with gr.Tab(KIND_TITLES[tab], id=tab, elem_id=f"tab-{tab}") as item:
                    self.widgets[tab].update(getattr(self, f"_{tab}_widgets")(_tab_defaults(tab)))
                self.tab_items[tab] = item
        defaults = form.default_values("panorama")
        shared: dict[str, gr.components.Component] = {}
        shared["classes"] = gr.Dropdown(
            choices=list(form.class_choices()), value=None, allow_custom_value=True, filterable=True,
            label="classes", elem_id="classes")
        gr.HTML(CLASSES_HELP, elem_id="classes-help", padding=False)
        with gr.Row():
            shared["seed"] = gr.Textbox(label="seed", placeholder="empty: random", elem_id="seed", scale=3,
                                        min_width=110)  # fmt: skip
            self.dice = gr.Button("Roll", elem_id="dice", scale=1, min_width=60)
            self.count = gr.Number(value=1, label="count", minimum=1, maximum=form.MAX_COUNT, precision=0,
                                   elem_id="count", scale=1, min_width=80)  # fmt: skip
        with gr.Row():
            self.generate = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
            self.cancel = gr.Button("Cancel", variant="stop", elem_id="cancel", interactive=False, scale=1,
                                    min_width=90)  # fmt: skip
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
        with gr.Accordion("Sampling", open=False):
            with gr.Row():
                for name in ("truncation", "z_mul", "class_mul"):
                    shared[name] = gr.Number(value=defaults[name], label=name, elem_id=name)
            with gr.Row():
                shared["share_z"] = gr.Checkbox(value=True, elem_id="share_z",
                                                label="share_z: one noise vector for all views (unchecked: "
                                                      "the CLI's --no_share_z)")  # fmt: skip
                shared["share_class"] = gr.Checkbox(value=False, label="share_class: one random class for all views")
            with gr.Row():
                shared["start_layer"] = gr.Number(value=defaults["start_layer"], label="sync blocks: start_layer",
                                                  elem_id="start_layer")  # fmt: skip
                shared["end_layer"] = gr.Number(value=defaults["end_layer"], elem_id="end_layer",
                                                label="end_layer (blocks start <= i < end)")  # fmt: skip
        with gr.Accordion("Output format and memory", open=False):
            with gr.Row():
                shared["format"] = gr.Radio(["png", "jpg"], value="png", label="format (both carry GPano 360 metadata)")
                shared["quality"] = gr.Number(value=defaults["quality"], label="quality (JPEG, 1-100)")
            with gr.Row():
                shared["max_views"] = gr.Textbox(value="", label="max_views", placeholder="auto",
                                                 info="views per chunk; fewer use less memory")  # fmt: skip
                shared["memory_budget"] = gr.Textbox(value="", label="memory_budget", placeholder="none",
                                                     info="e.g. 6GB: derive max_views from it")  # fmt: skip
        # The browser reads the sidecar and sends its text: gradio's file handling (and its
        # refusals, a traceback in the log and no word in the page) stays out of it.
        self.reproduce = gr.Button("Reproduce: fill the form from a sidecar (.json)", elem_id="reproduce", size="sm")
        self.sidecar_text = gr.Textbox("", elem_id="sidecar-text", elem_classes=["ganorama-hidden"], show_label=False,
                                       container=False)  # fmt: skip
        gr.Markdown(HELP, elem_id="field-help")
        for tab in TABS:
            names = form.ANIMATE_WIDGETS if tab == "animate" else form.widgets_for(tab)
            self.widgets[tab].update({name: widget for name, widget in shared.items() if name in names})
        self.classes, self.seed = shared["classes"], shared["seed"]

    def _canvas_widgets(self, defaults: dict, prefix: str = "") -> dict:
        widgets = {}
        with gr.Row():
            widgets["layout"] = gr.Dropdown(["full", "seed16", "cube", "dense"], value=defaults["layout"],
                                            allow_custom_value=True, label="layout", elem_id=f"{prefix}layout",
                                            info="or dense:N, JSON views", min_width=90)  # fmt: skip
            widgets["panorama_width"] = gr.Textbox(value=defaults["panorama_width"], label="panorama_width",
                                                   info="px or auto", elem_id=f"{prefix}panorama_width",
                                                   min_width=90)  # fmt: skip
            widgets["panorama_height"] = gr.Textbox(value=defaults["panorama_height"], label="panorama_height",
                                                    info="half of it", elem_id=f"{prefix}panorama_height",
                                                    min_width=90)  # fmt: skip
        return widgets

    def _panorama_widgets(self, defaults: dict) -> dict:
        widgets = self._canvas_widgets(defaults)
        with gr.Accordion("Also make (downloads)", open=False):
            widgets["exports"] = gr.CheckboxGroup(list(form.PANORAMA_EXPORTS), value=defaults["exports"],
                                                  show_label=False, elem_id="exports")  # fmt: skip
            widgets["displace"] = gr.Number(value=defaults["displace"], label="displace (sphere and turntable relief)")
        return widgets

    def _bigimg_widgets(self, defaults: dict) -> dict:
        widgets = {}
        with gr.Row():
            widgets["batch_size"] = gr.Number(value=defaults["batch_size"], label="columns (batch_size)",
                                              elem_id="bigimg-cols", min_width=80)  # fmt: skip
            widgets["rows"] = gr.Number(value=defaults["rows"], label="rows", min_width=80)
            widgets["overlap"] = gr.Number(value=defaults["overlap"], label="overlap (0 <= F < 1)", min_width=80)
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

    def _animate_widgets(self, defaults: dict) -> dict:
        widgets = {}
        with gr.Row():
            widgets["frames"] = gr.Number(value=defaults["frames"], label="frames", precision=0, min_width=70,
                                          elem_id="animate-frames")  # fmt: skip
            widgets["fps"] = gr.Number(value=defaults["fps"], label="fps", min_width=70, elem_id="animate-fps")
            widgets["keyframes"] = gr.Textbox(value=defaults["keyframes"], label="keyframes", min_width=70,
                                              placeholder="one per class", elem_id="animate-keyframes")  # fmt: skip
            widgets["loop"] = gr.Checkbox(value=defaults["loop"], label="loop (seamless)", elem_id="animate-loop",
                                          min_width=90)  # fmt: skip
            widgets["easing"] = gr.Dropdown(["smooth", "cosine", "linear"], value=defaults["easing"], label="easing",
                                            min_width=90)  # fmt: skip
        widgets.update(self._canvas_widgets(defaults, prefix="animate-"))
        return widgets

    def _result(self) -> None:
        self.error = gr.HTML("", visible=False, elem_id="ganorama-error")
        self.info = gr.Markdown("Fill the form and press Generate.", elem_id="ganorama-info")
        self.viewer = gr.HTML("", visible=False, elem_id="ganorama-viewer")
        self.video = gr.Video(label="360 video (equirectangular; the downloaded MP4 plays in 360 players)",
                              interactive=False, autoplay=True, loop=True, visible=False, elem_id="result-video")
        self.image = gr.Image(label="image", type="filepath", interactive=False, elem_id="result-image",
                              visible=False, height=280)  # fmt: skip
        self.tiled = gr.Image(label="texture tiled 3 x 3", type="filepath", interactive=False, visible=False,
                              elem_id="result-tiled")  # fmt: skip
        self.views = gr.Image(label="views", type="filepath", interactive=False, visible=False, elem_id="result-views")
        self.downloads = gr.File(label="downloads", file_count="multiple", interactive=False, elem_id="downloads",
                                 visible=False)  # fmt: skip

    # --- events ---------------------------------------------------------------------------

    def wire(self, app: gr.Blocks) -> None:
        shown = [self.error, self.info, self.viewer, self.video, self.image, self.tiled, self.views, self.downloads]
        every_widget = {widget for widgets in self.widgets.values() for widget in widgets.values()}
        started = self.generate.click(self._start, outputs=[self.generate, self.cancel], js=SCROLL_TO_RESULT,
                                      queue=False, api_visibility="private")  # fmt: skip
        # One generation at a time for the one model: every kind shares one slot.
        generated = started.then(self._generate, inputs={self.kind, self.count, *every_widget},
                                 outputs=[*shown, self.gallery, self.shown_ids], concurrency_limit=1,
                                 concurrency_id="generate", show_progress_on=[self.info],
                                 api_name="generate")  # fmt: skip
        generated.then(self._finish, outputs=[self.generate, self.cancel], queue=False, api_visibility="private")
        self.cancel.click(self._cancel, outputs=[self.cancel], queue=False, api_visibility="private")
        for tab, item in self.tab_items.items():
            item.select(lambda tab=tab: tab, outputs=self.kind, queue=False, api_visibility="private")
        app.load(self._history, outputs=[self.gallery, self.shown_ids], queue=False, api_visibility="private")
        self.gallery.select(self._reopen, inputs=[self.shown_ids], outputs=shown, api_visibility="private")
        self.dice.click(lambda: str(secrets.randbelow(form.DICE_SEEDS)), outputs=self.seed, api_visibility="private")
        self.search.change(self._search, inputs=self.search, outputs=self.matches, api_visibility="private")
        self.matches.input(lambda value: value, inputs=self.matches, outputs=self.classes, api_visibility="private")
        self.use_mix.click(self._use_mix, inputs=[widget for row in self.mix_rows for widget in row],
                           outputs=[self.classes, self.error], api_visibility="private")  # fmt: skip
        self.reproduce.click(None, js=READ_SIDECAR_JS, api_visibility="private")
        self.sidecar_text.change(self._reproduce, inputs=self.sidecar_text,
                                 outputs=[*every_widget, self.tabs, self.kind, self.error, self.info, self.sidecar_text],
                                 api_visibility="private")  # fmt: skip

    def _start(self, request: gr.Request):
        self.runs.start(request.session_hash)
        return gr.update(interactive=False), gr.update(interactive=True)

    def _finish(self, request: gr.Request):
        self.runs.finish(request.session_hash)
        return gr.update(interactive=True), gr.update(interactive=False)

    def _cancel(self, request: gr.Request):
        self.runs.cancel(request.session_hash)
        return gr.update(interactive=False)

    def _generate(self, data: dict, request: gr.Request, progress=gr.Progress()):
        """Make what the form asks (count results, or a video), yielding each result as it
        is done; an error or a Cancel ends the run with one line in the page."""
        session, tab = request.session_hash, data[self.kind]
        values = {name: data[widget] for name, widget in self.widgets[tab].items()}
        where = {"text": "before it started"}
        made: list[StoredResult] = []
        try:
            self.runs.check(session)  # cancelled while it waited its turn
            if tab == "animate":
                made.append(self._animate(values, session, progress, where))
                yield self._shown(made)
                return
            requests = form.requests_from_form(tab, values, data[self.count])
            for index, run in enumerate(requests):
                made.append(generate_result(self.generator, self.store, run,
                                            on_progress=self._steps(session, progress, where, index,
                                                                    len(requests))))  # fmt: skip
                yield self._shown(made, len(requests))
        except RunCancelled:
            yield {**(self._shown(made) if made else {}), self.info: _cancelled_info(made, where["text"]),
                   self.error: gr.update(value="", visible=False)}  # fmt: skip
        except Exception as error:  # every error becomes one line in the page
            yield {self.error: _error_box(error), **({self.info: _kept_info(made)} if made else {})}

    def _steps(self, session: str, progress, where: dict, index: int, count: int):
        def on_progress(done: int, total: int) -> None:
            self.runs.check(session)
            of = f" {index + 1} of {count}" if count > 1 else ""
            where["text"] = f"at step {done} of {total} of result{of}"
            progress((index + done / total) / count, desc=f"generating{of}")

        return on_progress

    def _animate(self, values: dict, session: str, progress, where: dict) -> StoredResult:
        from ganorama.export.animation import require_imageio_ffmpeg

        request, walk = form.animation_from_form(values)
        require_imageio_ffmpeg()

        def on_progress(frame: int, frames: int, done: int, total: int) -> None:
            self.runs.check(session)
            where["text"] = f"at frame {frame + 1} of {frames}"
            progress((frame + done / total) / frames, desc=f"generating frame {frame + 1} of {frames}")

        return generate_video(self.generator, self.store, request, walk, on_progress=on_progress)

    def _shown(self, made: list[StoredResult], count: int | None = None) -> dict:
        """The newest result in the page, every result in the history strip."""
        updates = self._show(made[-1])
        if count is not None and count > 1:
            updates[self.info] = f"Result {len(made)} of {count}: " + updates[self.info]
        return {**updates, **dict(zip((self.gallery, self.shown_ids), self._history()))}

    def _history(self):
        entries = self.store.recent()
        return [(str(entry.thumbnail), entry.title) for entry in entries], [entry.id for entry in entries]

    def _reopen(self, shown_ids: list[str], event: gr.SelectData):
        stored = self.store.get(shown_ids[event.index]) if 0 <= event.index < len(shown_ids) else None
        if stored is None:
            return {self.error: _error_box(UsageError("that result is no longer kept; generate it again"))}
        return self._show(stored)

    def _show(self, stored: StoredResult) -> dict:
        panorama, video = stored.kind == "panorama", stored.video is not None
        return {
            self.error: gr.update(value="", visible=False),
            self.info: _result_info(stored),
            self.viewer: gr.update(value=_viewer_frame(stored) if panorama else "", visible=panorama),
            self.video: gr.update(value=str(stored.video) if video else None, visible=video),
            self.image: gr.update(value=None if video else str(stored.image), visible=not video),
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

    def _reproduce(self, text):
        """Fill the form from a sidecar's text; the hidden box is emptied, so the same
        file chosen again is read again (emptying it is a change too, and ignored)."""
        if text == "":
            return {self.sidecar_text: gr.update()}
        try:
            request = form.request_from_sidecar_text(text)
        except Exception as error:  # a bad upload: one line in the page, one in the log
            return {self.error: _error_box(error, log="refused an upload"), self.sidecar_text: ""}
        values = form.widget_values(request)
        updates = {self.widgets[request.kind][name]: value for name, value in values.items()}
        return {**updates, self.tabs: gr.Tabs(selected=request.kind), self.kind: request.kind, self.sidecar_text: "",
                self.error: gr.update(value="", visible=False),
                self.info: html.escape(form.sidecar_summary(request))}  # fmt: skip


def _tab_defaults(tab: str) -> dict:
    if tab == "animate":
        return {**form.default_values("panorama"), **form.ANIMATE_DEFAULTS}
    return form.default_values(tab)


def _cancelled_info(made: list[StoredResult], where: str) -> str:
    kept = f"; the {len(made)} result(s) made before are kept in the history" if made else ""
    return f"**Cancelled** {html.escape(where)}: nothing of that run was kept{kept}."


def _kept_info(made: list[StoredResult]) -> str:
    return f"{len(made)} result(s) were made before the error; they are in the history."


def _result_info(stored: StoredResult) -> str:
    seconds = f"{stored.seconds:.1f}" if stored.seconds >= 1 else f"{stored.seconds:.2f}"
    kind = "360 video" if stored.video is not None else KIND_TITLES[stored.kind].lower()
    text = f"**{html.escape(stored.title)}** ({kind}), made in {seconds} s."
    if stored.kind == "panorama":
        text += " Drag the view to look around; G or the button: globe."
    if stored.video is not None:
        text += " The MP4 carries 360 metadata (V1 and V2): YouTube, VLC and headsets play it as a sphere."
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


def _error_box(error: BaseException, log: str | None = None):
    """The error as one line in the page; one line in the server's log too for a fault to
    look into, or with ``log`` (what was refused) for a refusal worth noting."""
    message = " ".join(error_message(error).split())
    if log is not None or not isinstance(error, GanoramaError):
        print(f"ganorama ui: {log or 'error'}: {message}", file=sys.stderr, flush=True)
    return gr.update(value=f'<div class="ganorama-error" role="alert">{html.escape(message)}</div>', visible=True)
