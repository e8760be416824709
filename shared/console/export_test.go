package console

import "github.com/shipgate/shipgate/shared/approval"

// FormTokenForTest mints a console form token as the console would for user.
func FormTokenForTest(key []byte, user, id string) string {
	s, err := approval.NewSigner(key)
	if err != nil {
		panic(err)
	}
	return s.FormToken(user, id)
}
