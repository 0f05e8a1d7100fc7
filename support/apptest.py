"""Reading the app under streamlit.testing's AppTest: its pictures, and a page opened on a model."""

from genviz import ui
from genviz.folders import checkpoint_folders


def folder_of(model: str) -> str:
    """The folder of the checkpoint named `model` in `ui.CHECKPOINTS`, as the picker's options name it."""
    (folder,) = [f for f in checkpoint_folders(ui.CHECKPOINTS) if f.name == model]
    return str(folder)


def images(node) -> list:
    """Every st.image element under `node`; an image's URL is a hash of its bytes."""
    found = []
    for child in getattr(node, "children", {}).values():
        found += [child] if child.type == "image" else images(child)
    return found


def open_page(app, page: str, model: str | None = None):
    app.run()
    if model:
        app.sidebar.selectbox[0].set_value(folder_of(model)).run()
    app.switch_page(page).run()
    assert not app.exception and not app.error, (app.exception, app.error)
    return app
