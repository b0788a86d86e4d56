package awsclient

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// An endpoint override marks a local peer: DynamoDB responses are not
// checksum-validated there, and only there.
func TestLocalPeerOptions(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CA_BUNDLE", "")
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{EndpointDynamoDB: "http://127.0.0.1:9"}, true},
		{map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, true},
		{map[string]string{EndpointS3: "http://127.0.0.1:9"}, false},
	} {
		c, err := New(context.Background(), func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		var o dynamodb.Options
		for _, f := range c.DynamoDBOptions() {
			f(&o)
		}
		if o.DisableValidateResponseChecksum != tc.want {
			t.Errorf("%v: checksum validation disabled %v, want %v", tc.env, o.DisableValidateResponseChecksum, tc.want)
		}
	}
}
