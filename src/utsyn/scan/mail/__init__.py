"""Mail: the protocols up to TLS (`mailproto.py`) and SMTP user enumeration (`smtp.py`)."""
