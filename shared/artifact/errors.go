package artifact

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/shipgate/shipgate/shared/domain"
)

// IsTransient reports whether err is worth retrying later: throttling, a 5xx, a dropped
// connection, as the SDK's own retryer classifies them. When such an error reaches a
// handler the SDK has already retried; the state machine's Retry (on "Transient") tries
// again later with backoff. Context cancellation and deadlines are not transient: the
// stage ran out of its own time.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// Wrap classifies an AWS call's error: domain.Transient when retrying may help,
// otherwise kind. An error that already carries a shipgate kind keeps it.
func Wrap(err error, kind domain.Kind, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var de *domain.Error
	if errors.As(err, &de) {
		return &domain.Error{Kind: de.Kind, Msg: msg, Err: err}
	}
	if IsTransient(err) {
		kind = domain.Transient
	}
	return &domain.Error{Kind: kind, Msg: msg, Err: err}
}
