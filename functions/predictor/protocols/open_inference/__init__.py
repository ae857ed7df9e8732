"""The Open Inference Protocol (KServe V2, Triton's HTTP API): :mod:`.requests` (a request to
rows), :mod:`.tensors` (datatypes and binary data), :mod:`.answers` (outputs, metadata, errors).
"""
