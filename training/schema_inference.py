"""The feature schema of a training table: inferred once, then stored in the manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictor.schema import CATEGORICAL, NUMERIC, ColumnSpec, Features, FeatureSchema
from predictor.values import MISSING_CATEGORY


def infer_schema(frame: pd.DataFrame, max_categories: int = 1000) -> FeatureSchema:
    """Infer the schema of a training frame: numeric vs categorical, nullability, ranges.

    Numeric dtypes (not bool) are numeric; everything else is categorical, with its
    observed values as categories (an error if there are more than
    ``max_categories``: such a column is an identifier or free text, not a feature).
    """
    specs = []
    for name in frame.columns:
        series = frame[name]
        nullable = bool(series.isna().any())
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            present = series.dropna()
            specs.append(
                ColumnSpec(
                    name=str(name),
                    kind=NUMERIC,
                    dtype=str(series.dtype),
                    nullable=nullable,
                    minimum=float(present.min()) if len(present) else None,
                    maximum=float(present.max()) if len(present) else None,
                    median=float(present.median()) if len(present) else None,
                )
            )
            continue
        values = sorted({str(v) for v in series.dropna().unique()})
        if len(values) > max_categories:
            raise ValueError(
                f"column {name!r} has {len(values)} distinct values (limit "
                f"{max_categories}); drop it or encode it before training"
            )
        specs.append(
            ColumnSpec(
                name=str(name),
                kind=CATEGORICAL,
                dtype=str(series.dtype),
                nullable=nullable,
                categories=tuple(values),
            )
        )
    return FeatureSchema(specs)


def features_from_frame(schema: FeatureSchema, frame: pd.DataFrame) -> Features:
    """Model input from trusted, typed training data (NaN allowed where observed)."""
    features: Features = {}
    for spec in schema.columns:
        series = frame[spec.name]
        if spec.kind == NUMERIC:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            features[spec.name] = values.astype(np.float32).reshape(-1, 1)
        else:
            missing = series.isna().to_numpy()
            text = np.array([str(v) for v in series.to_numpy(dtype=object)], dtype=object)
            text[missing] = MISSING_CATEGORY
            features[spec.name] = text.reshape(-1, 1)
    return features
