rem 2.seamless_generator: New database pictures -> Seamless-Smear2005-master (seamless cloning)
python ImageMaskDatasetGenerator.py ./image_mask_generator_seamless.config %*
