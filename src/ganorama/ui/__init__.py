"""``ganorama ui``: a local web app over the public API (``pip install "ganorama[ui]"``).

The app is a thin layer: :mod:`ganorama.ui.form` turns the page's widget values into a
:class:`~ganorama.request.Request` (the library's own checks and messages) and back,
:mod:`ganorama.ui.results` writes each result with the project's own writers into the
server's temporary folder, :mod:`ganorama.ui.app` lays out the Gradio page and
:mod:`ganorama.ui.server` owns the temporary folder and the server's lifetime.

Only :mod:`ganorama.ui.app` imports gradio, and only after :mod:`ganorama.ui.server` has
pointed gradio's own cache into the server's temporary folder: importing this package
imports neither gradio nor torch.
"""
