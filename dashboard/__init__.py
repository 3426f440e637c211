"""The nurses' station: a web page and a websocket server fed from the MQTT contract."""
