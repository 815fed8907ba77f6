rem 2.evaluate for this project
python ../../TensorflowUNetEvaluator.py ./train_eval_infer.config %*
