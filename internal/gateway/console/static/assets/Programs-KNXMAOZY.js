import{a,b}from"./chunk-YKGGNLKK.js";import"./chunk-SPGAD7TB.js";import"./chunk-GSNAGYCH.js";export{b as StatusBadge,a as default};
