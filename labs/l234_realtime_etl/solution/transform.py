"""Reference transform of lab 2.3.4 (the Lambda function Firehose calls)."""

import base64
import json


def handler(event, context):
    out = []
    for record in event["records"]:
        raw = base64.b64decode(record["data"])
        try:
            order = json.loads(raw)
        except ValueError:  # not JSON: to the error prefix, with the record as it came
            out.append({**_keep(record), "result": "ProcessingFailed"})
            continue
        if order.get("test"):  # synthetic monitoring orders: dropped on purpose
            out.append({**_keep(record), "result": "Dropped"})
            continue
        price = float(order["price"])
        order["country"] = order["country"].upper()
        order["price"] = price
        order["revenue"] = round(price * order["quantity"], 2)
        data = base64.b64encode(json.dumps(order).encode()).decode()
        out.append({"recordId": record["recordId"], "result": "Ok", "data": data})
    return {"records": out}


def _keep(record):
    return {"recordId": record["recordId"], "data": record["data"]}
