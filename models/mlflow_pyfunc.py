"""MLflow model from code: the churn bundle as one pyfunc (logged by path, never pickled).

``predict`` takes a feature table (the model's features, any order, extra key columns allowed) and
returns churn_probability, value_if_retained, expected_value, value_at_risk, loyalty_score and
loyalty_tier: probabilities, values and scores, not class labels. A table whose features do not match
the bundle's spec is refused.
"""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class ChurnBundleModel(PythonModel):
    def load_context(self, context):
        from models.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.bundle.predict(model_input)


mlflow.models.set_model(ChurnBundleModel())
