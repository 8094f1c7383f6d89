package knowledge

import (
	"context"
	"strconv"

	"github.com/google/uuid"
	"github.com/weaviate/weaviate/entities/models"
)

// UpsertVersion1ForTest writes chunks as a Store before IndexVersion 2 did: ids without a
// version, no analysed fields, no vocabulary.
func (s *Store) UpsertVersion1ForTest(ctx context.Context, creatorID uuid.UUID, chunks []Chunk) error {
	objs := make([]*models.Object, 0, len(chunks))
	for _, c := range chunks {
		objs = append(objs, &models.Object{Class: ClassName, Tenant: creatorID.String(),
			ID: strfmtUUID(uuid.NewSHA1(chunkIDNamespace, []byte(c.DocumentID.String()+"/"+itoa(c.Index)))),
			Properties: map[string]any{"document_id": c.DocumentID.String(), "creator_id": creatorID.String(), "title": c.Title,
				"heading": c.Heading, "text": c.Text, "chunk_index": c.Index, "page": c.Page}})
	}
	_, err := s.client.Batch().ObjectsBatcher().WithObjects(objs...).Do(ctx)
	return err
}

func itoa(i int) string { return strconv.Itoa(i) }

// VocabularyForTest reads the creator's vocabulary and languages as a search does.
func (s *Store) VocabularyForTest(ctx context.Context, creatorID uuid.UUID) (words int, langs []string, err error) {
	v, err := s.loadVocab(ctx, creatorID.String())
	if err != nil {
		return 0, nil, err
	}
	for _, l := range v.langs {
		langs = append(langs, string(l))
	}
	return len(v.words), langs, nil
}
