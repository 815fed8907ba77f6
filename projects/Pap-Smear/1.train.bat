rem 1.train for this project
python ../../TensorflowUNetTrainer.py ./train_eval_infer.config %*
