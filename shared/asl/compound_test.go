package asl

import (
	"testing"
)

func TestParallelAndMap(t *testing.T) {
	proc := `{"StartAt":"I","States":{"I":{"Type":"Pass","Parameters":{"v.$":"$.v","idx.$":"$$.Map.Item.Index"},"End":true}}}`
	runSemantics(t, []semanticsCase{
		{name: "Parallel gives an array in branch order", def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","Parameters":{"x.$":"$.x"},"ResultSelector":{"first.$":"$[0]","second.$":"$[1].y"},"End":true,
				"Branches":[{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":5,"Next":"A2"},"A2":{"Type":"Pass","End":true}}},{"StartAt":"B","States":{"B":{"Type":"Pass","Parameters":{"y.$":"$.x"},"End":true}}}]}}}`,
			input: `{"x":1}`, output: `{"first":{"x":1},"second":1}`},
		{name: "a failing branch fails the Parallel, caught", def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Catch":[{"ErrorEquals":["Boom"],"Next":"C"}],
				"Branches":[{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":100,"End":true}}},{"StartAt":"B","States":{"B":{"Type":"Fail","Error":"Boom","Cause":"b"}}}]},
				"C":{"Type":"Pass","End":true}}}`,
			output: `{"Error":"Boom","Cause":"b"}`},
		{name: "Map with ItemsPath, ItemSelector and context Map.Item", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,
				"ItemSelector":{"v.$":"$$.Map.Item.Value","k.$":"$.k"},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"ResultPath":"$.out","End":true}}}`,
			input: `{"k":"K","items":[1,2,3]}`, output: `{"k":"K","items":[1,2,3],"out":[{"v":1,"k":"K"},{"v":2,"k":"K"},{"v":3,"k":"K"}]}`},
		{name: "legacy Iterator and Parameters", def: `{"StartAt":"M","States":{"M":{"Type":"Map","Parameters":{"v.$":"$$.Map.Item.Value"},"Iterator":` + proc + `,"End":true}}}`,
			input: `[10,20]`, output: `[{"v":10,"idx":0},{"v":20,"idx":1}]`},
		{name: "DISTRIBUTED map over input items runs in process", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `[1,2]`, output: `[1,2]`},
		{name: "ItemBatcher groups items", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemBatcher":{"MaxItemsPerBatch":2,"BatchInput":{"b":1}},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `[1,2,3]`, output: `[{"Items":[1,2],"BatchInput":{"b":1}},{"Items":[3],"BatchInput":{"b":1}}]`},
		{name: "tolerated failures let the Map succeed", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailureCount":1,"ItemProcessor":{"StartAt":"C","States":{
				"C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":2,"Next":"F"}],"Default":"P"},"F":{"Type":"Fail","Error":"Two"},"P":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `[1,2,3]`, output: `[1,null,3]`},
		{name: "failures over the threshold fail the Map", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailurePercentage":10,"ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Each"}}},"End":true}}}`,
			input: `[1,2,3]`, status: StatusFailed, err: "States.ExceedToleratedFailureThreshold"},
		{name: "an iteration failure fails the Map with its error", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Each","Cause":"c"}}},"End":true}}}`,
			input: `[1]`, status: StatusFailed, err: "Each", cause: "c"},
		{name: "Map over a non-array fails", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `{"a":1}`, status: StatusFailed, err: "States.QueryEvaluationError", cause: "Map state input must be an array"},
		{name: "Map retried per its Retry then caught", def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","Retry":[{"ErrorEquals":["Each"],"MaxAttempts":2}],
				"Catch":[{"ErrorEquals":["Each"],"ResultPath":"$.e","Next":"C"}],"ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Each"}}},"End":true},
				"C":{"Type":"Pass","Parameters":{"err.$":"$.e.Error"},"End":true}}}`,
			input: `{"xs":[1]}`, output: `{"err":"Each"}`},
	})
}

func TestIntrinsics(t *testing.T) {
	pass := func(params string) string {
		return `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":` + params + `,"End":true}}}`
	}
	runSemantics(t, []semanticsCase{
		{name: "all functions, nested", def: pass(`{
			"format.$":"States.Format('{} and {} \\{literal\\}', $.s, $.n)",
			"json.$":"States.StringToJson('{\"a\":[1]}')",
			"str.$":"States.JsonToString($.obj)",
			"arr.$":"States.Array(1, 'two', $.n, States.Array())",
			"part.$":"States.ArrayPartition($.list, 2)",
			"has.$":"States.ArrayContains($.list, 3)",
			"range.$":"States.ArrayRange(1, 9, 4)",
			"item.$":"States.ArrayGetItem($.list, 1)",
			"len.$":"States.ArrayLength($.list)",
			"uniq.$":"States.ArrayUnique(States.Array(1, 1, 2))",
			"b64.$":"States.Base64Encode('hi')",
			"unb64.$":"States.Base64Decode('aGk=')",
			"sha.$":"States.Hash('abc', 'SHA-256')",
			"merged.$":"States.JsonMerge($.obj, States.StringToJson('{\"b\":2}'), false)",
			"rand.$":"States.MathRandom(5, 6)",
			"sum.$":"States.MathAdd($.n, -2)",
			"split.$":"States.StringSplit('a,b;c', ',;')",
			"uuidLen.$":"States.ArrayLength(States.StringSplit(States.UUID(), '-'))"}`),
			input: `{"s":"x","n":7,"obj":{"a":1},"list":[1,2,3]}`,
			output: `{"format":"x and 7 {literal}","json":{"a":[1]},"str":"{\"a\":1}","arr":[1,"two",7,[]],"part":[[1,2],[3]],"has":true,"range":[1,5,9],"item":2,"len":3,"uniq":[1,2],
				"b64":"aGk=","unb64":"hi","sha":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","merged":{"a":1,"b":2},"rand":5,"sum":5,"split":["a","b","c"],"uuidLen":5}`},
		{name: "misuse is States.IntrinsicFailure", def: pass(`{"x.$":"States.ArrayGetItem($.list, 9)"}`), input: `{"list":[1]}`,
			status: StatusFailed, err: "States.IntrinsicFailure", cause: "out of bounds"},
		{name: "wrong argument type is States.IntrinsicFailure", def: pass(`{"x.$":"States.Base64Encode($.n)"}`), input: `{"n":1}`,
			status: StatusFailed, err: "States.IntrinsicFailure", cause: "must be a string"},
	})
}

func TestJSONata(t *testing.T) {
	runSemantics(t, []semanticsCase{
		{name: "callback task token in Arguments", def: `{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + ResourceLambdaInvokeWait + `",
				"Arguments":{"FunctionName":"answer","Payload":{"token":"{% $states.context.Task.Token %}"}},"Output":"{% $states.result %}","End":true}}}`,
			output: `{"answered":true}`},
		{name: "Output, Assign and $states.input", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{
				"A":{"Type":"Pass","Assign":{"total":"{% $sum($states.input.xs) %}"},"Output":{"n":"{% $count($states.input.xs) %}","lit":1},"Next":"B"},
				"B":{"Type":"Pass","Output":"{% {'n': $states.input.n, 'total': $total, 'name': $states.context.Execution.Name} %}","End":true}}}`,
			input: `{"xs":[1,2,3]}`, output: `{"n":3,"total":6,"name":"run"}`},
		{name: "Task Arguments and $states.result", def: `{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + ResourceLambdaInvoke + `",
				"Arguments":{"FunctionName":"echo","Payload":{"v":"{% $states.input.v * 2 %}"}},"Output":"{% $states.result.Payload %}","End":true}}}`,
			input: `{"v":21}`, output: `{"v":42}`},
		{name: "Choice Condition with Assign and Output", def: `{"QueryLanguage":"JSONata","StartAt":"C","States":{"C":{"Type":"Choice","Choices":[
				{"Condition":"{% $states.input.n > 1 %}","Assign":{"picked":"big"},"Output":{"was":"{% $states.input.n %}"},"Next":"D"}],"Default":"E"},
				"D":{"Type":"Pass","Output":"{% $merge([$states.input, {'picked': $picked}]) %}","End":true},"E":{"Type":"Fail","Error":"Small"}}}`,
			input: `{"n":5}`, output: `{"was":5,"picked":"big"}`},
		{name: "Catch with $states.errorOutput", def: `{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + fnARN + `fail",
				"Arguments":{"msg":"bad"},"Catch":[{"ErrorEquals":["States.ALL"],"Output":"{% $states.errorOutput.Error %}","Next":"Done"}],"End":true},"Done":{"Type":"Succeed"}}}`,
			output: `"errorString"`},
		{name: "Map Items and ItemSelector", def: `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","Items":"{% $states.input.xs %}",
				"ItemSelector":{"v":"{% $states.context.Map.Item.Value * 10 %}"},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `{"xs":[1,2]}`, output: `[{"v":10},{"v":20}]`},
		{name: "Step Functions functions", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":{
				"part":"{% $partition([1,2,3], 2) %}","range":"{% $range(0, 10, 5) %}","hash":"{% $hash('abc', 'MD5') %}",
				"parsed":"{% $parse('{\"a\":1}') %}","uuid":"{% $length($uuid()) %}","rand":"{% $random() < 1 %}",
				"range1":"{% $range(1, 3) %}","sha256":"{% $hash('abc') %}"},"End":true}}}`,
			output: `{"part":[[1,2],[3]],"range":[0,5,10],"hash":"900150983cd24fb0d6963f7d28e17f72","parsed":{"a":1},"uuid":36,"rand":true,
				"range1":[1,2,3],"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}`},
		{name: "mixed query languages per state", def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$.x"},"Next":"B"},
				"B":{"Type":"Pass","QueryLanguage":"JSONata","Output":"{% $states.input.x + 1 %}","End":true}}}`,
			input: `{"x":1}`, output: `2`},
		{name: "undefined result is States.QueryEvaluationError", def: `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.nope %}","End":true}}}`,
			status: StatusFailed, err: "States.QueryEvaluationError", cause: "returned nothing (undefined)"},
		{name: "a Condition that is not boolean is States.QueryEvaluationError", def: `{"QueryLanguage":"JSONata","StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Condition":"yes","Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			status: StatusFailed, err: "States.QueryEvaluationError", cause: "Expected 'boolean'"},
		{name: "Wait Seconds from an expression", def: `{"QueryLanguage":"JSONata","StartAt":"W","States":{"W":{"Type":"Wait","Seconds":"{% $states.input.s %}","End":true}}}`,
			input: `{"s":3600}`, output: `{"s":3600}`},
	})
}
