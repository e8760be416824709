package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsAPI is the part of the Secrets Manager client LoadSecret uses.
type SecretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadSecret reads the webhook secret with id (app.Config.WebhookSecret) from Secrets
// Manager, as a string or binary secret. An empty id or an empty secret is an error: the
// caller decides whether to start refusing every delivery.
func LoadSecret(ctx context.Context, api SecretsAPI, id string) ([]byte, error) {
	if id == "" {
		return nil, errors.New("webhook secret: no secret id configured")
	}
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("webhook secret %s: %w", id, err)
	}
	b := out.SecretBinary
	if out.SecretString != nil {
		b = []byte(aws.ToString(out.SecretString))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("webhook secret %s is empty", id)
	}
	return b, nil
}

// ReadSecretFile reads the local webhook secret (a file under the data dir). One trailing
// newline is dropped, since editors add one and GitHub's form field has none.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("webhook secret file %s is empty", path)
	}
	return b, nil
}
