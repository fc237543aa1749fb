"""Developer tools shared by the tests and the benchmarks (never imported by the app or `vae/`).

`appserver`: start `streamlit run app.py` on a free port of 127.0.0.1 and Debian's headless Chromium.
"""
