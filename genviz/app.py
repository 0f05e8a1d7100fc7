"""genviz: the Streamlit entry point: navigation over the pages in `views/`, each of which draws the
sidebar model picker (`ui.model_picker`).

The folder is not called `pages/`: Streamlit takes a `pages/` folder for its older multipage mode,
and then runs a page opened by its URL without this script (no navigation, no wide layout)."""

import streamlit as st

from genviz import ui  # first: serve.py's thread imports it too (see there)

st.set_page_config(page_title="genviz", layout="wide")
PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("views/sample.py", title="Sample", icon=":material/grid_view:"),
    st.Page("views/sliders.py", title="Latent sliders", icon=":material/tune:"),
    st.Page("views/interpolate.py", title="Interpolate", icon=":material/linear_scale:"),
    st.Page("views/reconstruct.py", title="Reconstruct and denoise", icon=":material/auto_fix_high:"),
    st.Page("views/anomaly.py", title="Anomaly detection", icon=":material/troubleshoot:"),
    st.Page("views/compare.py", title="Compare models", icon=":material/compare:"),
]
try:
    st.navigation(PAGES).run()
finally:  # also after a page that stops early
    ui.picker.show_card()  # last: the page's own pictures first
    ui.resources.FIRST_PAGE_RAN.set()  # serve.py's background work may start
