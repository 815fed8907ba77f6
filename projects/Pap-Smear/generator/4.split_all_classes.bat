rem 4.split_all_classes: Smear2005-labels/<7 classes> -> ../Pap-Smear/all_classes/{train,valid,test} (+ classes.csv)
python split_master.py --input ./Smear2005-labels --output ../Pap-Smear/all_classes %*
