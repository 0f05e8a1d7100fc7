"""genviz: the Streamlit entry point. Navigation and the sidebar model picker, nothing else."""

import streamlit as st

st.set_page_config(page_title="genviz", layout="wide")
page = st.navigation([st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)])
page.run()
