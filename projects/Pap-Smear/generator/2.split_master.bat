rem 2.split_master: Smear2005-master/severe_dysplastic -> ../Pap-Smear/severe_dysplastic/{train,valid,test}
python split_master.py --input ./Smear2005-master/severe_dysplastic --output ../Pap-Smear/severe_dysplastic %*
