rem 5.infer_slides for this project (set CONFIG=./cpu_train_eval_infer.config to use another config)
if "%CONFIG%"=="" set CONFIG=./train_eval_infer.config
python ../../TensorflowUNetSlideInferencer.py %CONFIG% %*
