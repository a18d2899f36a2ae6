"""Lab 2.3.4, 1단계: the Firehose transform (the Lambda function's code).

Firehose calls ``handler(event, context)`` with a batch of records; every record's ``data``
is base64. Answer each ``recordId`` once with ``result`` "Ok" (and the new data, base64),
"Dropped" (on purpose, not an error) or "ProcessingFailed" (goes to the error prefix).
https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html
"""

import base64
import json  # noqa: F401 (1단계에서 씁니다)


def handler(event, context):
    out = []
    for record in event["records"]:
        raw = base64.b64decode(record["data"])  # noqa: F841
        # TODO(1단계): raw를 JSON으로 읽으세요. 읽을 수 없으면 "ProcessingFailed",
        #              "test": true 인 주문은 "Dropped", 나머지는 country를 대문자로,
        #              price를 숫자로, revenue = round(price * quantity, 2)를 더해 "Ok".
        raise NotImplementedError("TODO 1단계: README.md의 '1단계'를 보고 transform.py를 채우세요.")
    return {"records": out}
