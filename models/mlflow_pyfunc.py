"""MLflow model from code: the churn bundle as one pyfunc (logged by path, never pickled).

How it works, and why: docs/models.md, section "models/mlflow_pyfunc.py".
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
