"""Exposed services: what each open port really speaks, its banner and its product.

`family.py` holds the family and the table of probes; each protocol has its own module
(the speak-first ones share `greeting.py`); `exchange.py` holds what every probe shares;
`ber.py` and `bson.py` are the wire codecs of LDAP and MongoDB.
"""
