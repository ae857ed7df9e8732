"""One codec per protocol over the serving pipeline: this API's own (:mod:`.own`), MLflow's
and SageMaker's ``/invocations`` (:mod:`.mlflow`), the Open Inference Protocol
(:mod:`.open_inference`); and the request bodies the first two share (:mod:`.bodies`,
:mod:`.json_bodies`, :mod:`.text_bodies`). A new protocol is a new codec."""
