"""The BI dashboard (QuickSight stand-in): datasets as data (``registry``), their sources
(``sources``), the SPICE-like in-memory store (``spice``), refresh schedules (``schedule``),
the visuals' queries (``queries``) and the Streamlit script that renders them (``app``)."""
