"""Decoding in the browser (genviz's component) and the one way a page learns whether it can.

A live component reports in three steps, each a rerun: a browser is there (then, and only then, the decoder is
exported: AppTest and other sessions without a browser never pay for it), its decoder drew (then the page shows
it and not the server's widgets), and then the controls' values on each release. Until it has drawn, and
wherever it fails, the page decodes on the server; a failure is said in one line, once per model and page.
"""

import os
from dataclasses import dataclass

import streamlit as st

from genviz.checkpoint import CheckpointError
from genviz.export import ExportError
from genviz.ui.resources import decoder_bytes
from genviz.ui.text import plain

# GENVIZ_BROWSER_DECODE=0: every page decodes on the server, with Streamlit's widgets, as before the component:
# the baseline of benchmarks/live_decode.py and slider_latency.py, and the load test's path.
ENABLED = os.environ.get("GENVIZ_BROWSER_DECODE", "1") != "0"


@dataclass
class Live:
    decoder: bytes | None  # to send the component: None until a browser has said it is there
    report: dict  # the component's last report

    @property
    def drawn(self) -> bool:
        """The browser has decoded with this decoder: show its picture and controls, not the server's."""
        return bool(self.report.get("ok")) and self.decoder is not None

    def values(self, controls_id: str) -> dict:
        """The controls' values as of their last release, if they are the controls of `controls_id`."""
        return self.report.get("values", {}) if self.report.get("controls_id") == controls_id else {}


def live(path: str, key: str, what: str) -> Live | None:
    """The state of the live component with widget key `key` for checkpoint `path`; None where the page must
    decode on the server, after a one-line caption that starts with `what` ("The sliders decode")."""
    if not ENABLED:
        return None
    errors = st.session_state.setdefault("live_errors", {})
    report = st.session_state.get(key) or {}
    decoder = None
    if report.get("ok") is False and key not in errors:
        errors[key] = f"the browser cannot decode here ({plain(report.get('error', 'no reason given'))})"
    if key not in errors and (report.get("alive") or report.get("need") or report.get("ok")):
        try:
            decoder = decoder_bytes(path)
        except (ExportError, CheckpointError, OSError) as e:
            errors[key] = f"this model's decoder cannot run in the browser ({plain(e)})"
    if key in errors:
        st.caption(f"{what} on the server: {errors[key]}.")
        return None
    return Live(decoder, report)
