package source

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// CodeCommitGitCredentials computes the HTTPS git user name and password CodeCommit
// accepts for IAM credentials (what git-remote-codecommit and the AWS CLI's credential
// helper send): the user is the access key id, with "%" and the session token appended
// for temporary credentials; the password is the signing time and a SigV4 signature of
// the pseudo request "GIT <path>" with only the host signed, for service "codecommit".
// host is the URL's host (with port if the URL has one), path its escaped path.
func CodeCommitGitCredentials(creds aws.Credentials, region, host, path string, t time.Time) (user, password string) {
	t = t.UTC()
	user = creds.AccessKeyID
	if creds.SessionToken != "" {
		user += "%" + creds.SessionToken
	}
	stamp := t.Format("20060102T150405")
	day := t.Format("20060102")
	canonical := "GIT\n" + path + "\n\nhost:" + host + "\n\nhost\n"
	digest := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{
		"AWS4-HMAC-SHA256",
		stamp,
		day + "/" + region + "/codecommit/aws4_request",
		hex.EncodeToString(digest[:]),
	}, "\n")
	key := hmacSHA256([]byte("AWS4"+creds.SecretAccessKey), day)
	for _, part := range []string{region, "codecommit", "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	return user, stamp + "Z" + hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// AWSOptions are the Options a Lambda uses: CodeCommit signed with the function's own
// credentials in its region, and the GitHub token read from the secret
// githubTokenSecret (none when ""). Callers set limits and overrides on the result.
func AWSOptions(ac aws.Config, githubTokenSecret string) Options {
	o := Options{CodeCommitCredentials: ac.Credentials, CodeCommitRegion: ac.Region}
	if githubTokenSecret != "" {
		o.GitHubToken = SecretsManagerToken(secretsmanager.NewFromConfig(ac), githubTokenSecret)
	}
	return o
}

// SecretsManagerAPI is the one Secrets Manager call the token function makes.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsManagerAPI = (*secretsmanager.Client)(nil)

// TokenCacheTTL is how long SecretsManagerToken reuses a token it read: a warm Lambda
// fetching many pushes reads the secret once in a while, yet a rotated token is picked
// up within minutes.
const TokenCacheTTL = 5 * time.Minute

// SecretsManagerToken returns a TokenFunc reading the GitHub token from a secret. The
// secret is the token itself, or JSON with a "token" field.
func SecretsManagerToken(api SecretsManagerAPI, secretID string) TokenFunc {
	var (
		mu      sync.Mutex
		cached  string
		expires time.Time
	)
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if cached != "" && time.Now().Before(expires) {
			return cached, nil
		}
		if secretID == "" {
			return "", errors.New("no secret configured for the GitHub token")
		}
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return "", fmt.Errorf("read secret %s: %w", secretID, err)
		}
		tok, err := tokenFromSecret(aws.ToString(out.SecretString))
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", secretID, err)
		}
		cached, expires = tok, time.Now().Add(TokenCacheTTL)
		return tok, nil
	}
}

func tokenFromSecret(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var v struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return "", fmt.Errorf("not JSON with a token field: %w", err)
		}
		s = strings.TrimSpace(v.Token)
	}
	if s == "" {
		return "", errors.New("empty token")
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New("token spans several lines")
	}
	return s, nil
}
