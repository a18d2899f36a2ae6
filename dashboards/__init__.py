"""Streamlit apps: the BI dashboard (``bi``, a QuickSight stand-in) and what the apps share
(``common``). The logic lives in plain modules; the Streamlit scripts only render."""
