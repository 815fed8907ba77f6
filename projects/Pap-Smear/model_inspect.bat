rem model_inspect for this project
python ../../TensorflowUNetModelInspector.py ./train_eval_infer.config %*
