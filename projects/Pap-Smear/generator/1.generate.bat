rem 1.generate: New database pictures -> Smear2005-master
python ImageMaskDatasetGenerator.py ./image_mask_generator.config %*
