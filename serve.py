"""`python serve.py app.py [options]`: `streamlit run app.py [options]`, with torch, genviz and plotly imported while
the server starts, not when the first browser opens a page (about 1.5 s of its first page on two cores). Neither
`ui` nor the pages are imported here: their Streamlit caches belong to the running server."""

import sys

import plotly.graph_objects  # noqa: F401
from streamlit.web import cli

import genviz.models  # noqa: F401  (torch and torchvision)

if __name__ == "__main__":
    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    sys.exit(cli.main())
