rem 3.generate_labels: New database pictures -> Smear2005-labels (nucleus + cytoplasm label masks, all classes)
python ImageMaskDatasetGenerator.py ./image_label_generator.config %*
