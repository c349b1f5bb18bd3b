"""Utsyn: an open Cyber Risk Score service for the Norwegian public sector."""

__version__ = "0.1.0"
