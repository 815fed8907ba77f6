rem 0.dataset_inspector for this project
python ../../ImageMaskDataset.py ./train_eval_infer.config %*
