"""MLflow model from code: the churn bundle as one pyfunc (logged by path, never pickled).

``predict`` takes a feature table (the model's features, any order, extra key columns allowed) and
returns churn_probability, value_if_retained, expected_value, value_at_risk, loyalty_score and
loyalty_tier: probabilities, values and scores, not class labels. A table whose features do not match
the bundle's spec is refused.

For people who serve the model with MLflow (``mlflow.pyfunc.load_model``, ``mlflow models serve``). Loading it
that way trusts the artifact store: MLflow executes this file as stored with the model, so whoever can change
the stored copy can run code in the serving process. The bundle's own files are checked against its manifest
(``ModelBundle.load``). ``churn score`` and the registry gate never load the model through here: they download
the files, check each against the hashes recorded in the registry, and read the bundle with the installed
package (``pipeline.training.tracking.load_model``).
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
