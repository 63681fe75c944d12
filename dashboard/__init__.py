"""DeepFER's Streamlit dashboard (``streamlit run dashboard/Home.py``): thin pages over ``deepfer``."""

# Import order matters: aiortc's SRTP binding (pylibsrtp) crashes the whole process (segfault in
# srtp_init) when it is first imported after TensorFlow has been loaded.  Every page imports this
# package before anything that loads TensorFlow, so the Live webcam page works whichever page a
# visitor opens first.  Importing it is cheap (no model, no network).
try:
    import pylibsrtp  # noqa: F401
except ImportError:  # streamlit-webrtc not installed: the Live page says so
    pass
