rem 1.generator: New database pictures -> Smear2005-master
python ImageMaskDatasetGenerator.py ./image_mask_generator.config %*
