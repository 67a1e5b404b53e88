#!/usr/bin/env python3
"""Restore the byte form of ds:SignedInfo that a pretty-printer destroyed after capture.

The real SMEV messages in samples/ were re-indented after they were captured. Exclusive C14N keeps
whitespace text inside SignedInfo, so the indentation breaks the signature value (the reference
digests survive: the SMEV transform drops whitespace-only text). Removing the whitespace-only text
between the tags of every ds:SignedInfo gives back what the signer signed.

Usage: restore-signedinfo.py INPUT OUTPUT
"""
import re
import sys

src = open(sys.argv[1], "rb").read().decode("utf-8")
pattern = re.compile(r"(<(\w+:)?SignedInfo[\s>].*?</(\w+:)?SignedInfo>)", re.S)
out = pattern.sub(lambda m: re.sub(r">\s+<", "><", m.group(1)), src)
open(sys.argv[2], "wb").write(out.encode("utf-8"))
