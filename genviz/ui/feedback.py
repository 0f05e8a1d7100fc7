"""What a page shows while it works or when its data is missing: progress bars and one message for a
dataset that cannot be read."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from genviz.data import DatasetError
from genviz.models import GenerativeModel
from genviz.ui.text import code, plain


class Progress:
    """A progress bar that genviz's `progress(done, total)` callbacks fill."""

    def __init__(self, text: str):
        self.bar = st.progress(0.0, text=text)

    def say(self, text: str) -> None:
        self.bar.progress(0.0, text=text)

    def counting(self, text: str) -> Callable[[int, int], None]:
        """A callback showing `text` with {done} and {total} filled in."""
        return lambda done, total: self.bar.progress(done / total, text=text.format(done=done, total=total))


@contextmanager
def progress(text: str) -> Iterator[Progress]:
    """A progress bar for the work inside the block, gone when it ends."""
    bar = Progress(text)
    try:
        yield bar
    finally:
        bar.bar.empty()


@contextmanager
def needs_data(model: GenerativeModel, what: str, split: str = "test") -> Iterator[None]:
    """Runs the block; should it need a split of the model's dataset that cannot be read, says so
    ("<what> needs the test set of mnist: <why>") and stops the page, whose other parts stay usable."""
    try:
        yield
    except DatasetError as e:
        st.error(f"{what} needs the {split} set of {code(model.checkpoint.dataset.name)}: {plain(e)}")
        st.stop()
