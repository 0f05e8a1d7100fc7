"""A drawn input: genviz's drawing pad (`component.drawing_pad`), its picture prepared as an upload is, so that a
digit drawn with the mouse, a pen or a finger becomes a model's input wherever an image can be uploaded."""

import hashlib

import streamlit as st

from genviz.component import drawing_pad
from genviz.models import GenerativeModel
from genviz.preparation import ModelInput, Preparation, upload_to_input
from genviz.ui.text import plain
from genviz.uploads import UploadError

NAME = "drawing.png"


def drawn_picture(
    model: GenerativeModel, key: str, preparation: Preparation | None = None, invert: bool | None = None, where=st
) -> tuple[ModelInput, str] | None:
    """The pad in `where`, and the model's input from what is drawn on it (prepared as `preparation` says, by default
    the model's own) with the drawing's digest; None before the first stroke, after Clear, or without a browser."""
    with where:
        if not st.context.headers:  # no browser (Streamlit's AppTest): no pad to draw on
            st.caption("The drawing pad needs a browser.")
            return None
        data = drawing_pad(key=key, pad_id=f"{key}|{model.image_shape}")
        if data is None:
            st.caption("Draw with the mouse, a pen or a finger; each stroke updates the picture.")
            return None
        try:
            picture = upload_to_input(data, NAME, model.image_shape, invert=invert, preparation=preparation)
        except UploadError as e:  # the pad's own PNG: only a broken browser gets here
            st.error(plain(e), icon=":material/broken_image:")
            return None
    return picture, hashlib.sha256(data).hexdigest()
