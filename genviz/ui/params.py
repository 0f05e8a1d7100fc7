"""A page's main choices in its URL (`st.query_params`): read when the page opens, written whenever they
change, so that a reload restores the view and a link shares it. A value a link gives that the page does
not offer is reported in words and the choice keeps its default."""

from collections.abc import Callable, Sequence

import streamlit as st

from genviz.ui.text import code, plain

Parse = Callable[[str], object]  # the URL's text -> the widget's value; ValueError says why not


def choice(options: Sequence) -> Parse:
    """The option whose text is the URL's (options may be numbers or words)."""

    def parse(text: str):
        for option in options:
            if str(option) == text:
                return option
        raise ValueError(f"choose one of {', '.join(map(str, options))}")

    return parse


def integer(low: int, high: int) -> Parse:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError("not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"outside {low} to {high}")
        return value

    return parse


def decimal(low: float, high: float) -> Parse:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if not low <= value <= high:  # NaN too
            raise ValueError(f"outside {low:g} to {high:g}")
        return value

    return parse


def flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError("use 1 or 0")
    return text == "1"


_UNSET = object()  # a widget with no value


def link_warning(key: str, message: str, where=st) -> None:
    """Say that a link's value for the widget `key` was not used, and keep saying it on every run (a live
    component's first message reruns the page within a second) until the widget's value changes: the user has
    acted on it, or left the page."""
    notes = st.session_state.setdefault("link_notes", {})
    note = notes.get(key)
    if note is None:
        note = notes[key] = {"message": message}  # the widget gets its default after this
    elif "value" not in note:
        if key not in st.session_state:  # the page was left before it ran again: its widget is gone
            del notes[key]
            return
        note["value"] = st.session_state[key]  # the value it started at instead
    elif st.session_state.get(key, _UNSET) != note["value"]:
        del notes[key]
        return
    where.warning(note["message"], icon=":material/link_off:")


def from_url(name: str, key: str, parse: Parse, where=st) -> None:
    """Before the widget `key` is drawn: when it has no value yet in this visit to the page and the URL
    holds `name`, start the widget at the URL's value; a value `parse` refuses is reported in `where`, until the
    widget changes (`link_warning`)."""
    if key in st.session_state.get("link_notes", {}):
        link_warning(key, "", where)
        return
    if key in st.session_state or name not in st.query_params:
        return
    text = st.query_params[name]
    try:
        st.session_state[key] = parse(text)
    except ValueError as e:
        link_warning(key, f"The link's {code(f'{name}={text}')} was ignored ({plain(e)}).", where)


def linked(name: str, key: str, parse: Parse, default, where=st) -> None:
    """Before the widget `key` is drawn (without a default of its own): start it at the URL's `name`
    (`from_url`), else at `default`."""
    from_url(name, key, parse, where)
    st.session_state.setdefault(key, default)


def to_url(name: str, value) -> None:
    """Put a choice in the URL; True and False are written 1 and 0."""
    text = str(int(value)) if isinstance(value, bool) else str(value)
    if st.query_params.get(name) != text:
        st.query_params[name] = text


def drop_from_url(name: str) -> None:
    if name in st.query_params:
        del st.query_params[name]
