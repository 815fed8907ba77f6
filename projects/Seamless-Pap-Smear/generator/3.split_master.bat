rem 3.split_master: Seamless-Smear2005-master/severe_dysplastic -> ../Seamless-Pap-Smear/severe_dysplastic/{train,valid,test}
python split_master.py --input ./Seamless-Smear2005-master/severe_dysplastic --output ../Seamless-Pap-Smear/severe_dysplastic %*
