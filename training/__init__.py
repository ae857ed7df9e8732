"""The training job: CSV in, validated scikit-learn pipeline + ONNX graph in the registry out.

Run it as ``python -m training --help``; the cloud training function calls the same
:func:`training.job.run_training`.
"""
