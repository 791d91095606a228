"""Tessera's machine-learning package: plain Python and torch, no Django (STYLE.md section 7).

Data and paths go in, data and paths come out. Organised by technique (encoders,
classification, retrieval, recommendation, serving, evaluation), not by product.
"""
