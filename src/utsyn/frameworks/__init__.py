"""Security frameworks as data: NIST CSF 2.0 in English and bokmål, its glossary, and NSM's
Grunnprinsipper for IKT-sikkerhet 2.1 mapped to it.

`library` reads a framework library (`data/frameworks/<ref_id>.yaml`, format documented at the
top of each file) into frozen dataclasses; `glossary` reads the terms the bokmål translation
keeps to; `crosswalk` reads one library's mapping to another from both ends. All are plain
data below the rules: the rulebook's `csf:` mappings name this
library's subcategories, and the web's public /csf pages show it.
"""
