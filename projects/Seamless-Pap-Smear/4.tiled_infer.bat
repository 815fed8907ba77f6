rem 4.tiled_infer for this project
python ../../TensorflowUNetTiledInferencer.py ./train_eval_infer.config %*
