rem 3.infer for this project
python ../../TensorflowUNetInferencer.py ./train_eval_infer.config %*
