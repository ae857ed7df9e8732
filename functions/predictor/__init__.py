"""Serverless Predictor core: settings, feature schema, model registry and inference.

Importable by every Lambda function and by the training job. Nothing here touches the
network or reads the environment at import time.
"""
